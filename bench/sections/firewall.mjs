export const id='firewall';export const title='firewall';export async function run(){return {skipped:'todo'}}
