export const id='memory';export const title='memory';export async function run(){return {skipped:'todo'}}
