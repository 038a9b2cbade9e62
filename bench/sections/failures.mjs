export const id='failures';export const title='failures';export async function run(){return {skipped:'todo'}}
