//! The adversarial suite (issue 18): each test builds an attack at run time, most of
//! them against two live providers from `pecd init`, and asserts that it fails.

mod crowding;
mod files;
mod forgery;
mod limits;
mod replay;
mod throttle;
