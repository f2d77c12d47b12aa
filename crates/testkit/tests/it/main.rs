//! Integration tests of the fake provider, driven over real sockets with a
//! plain hyper client or a raw `TcpStream`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anthropic;
mod binary;
mod client;
mod control;
mod gemini;
mod openai;
mod perf;
mod scripting;
