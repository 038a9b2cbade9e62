// express@4 installed under the alias "express4" to test both majors; its
// API for what the tests use is the same as express 5's.
declare module 'express4' {
  import express from 'express';
  export default express;
}
