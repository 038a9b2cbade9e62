export const id='propagation';export const title='propagation';export async function run(){return {skipped:'todo'}}
