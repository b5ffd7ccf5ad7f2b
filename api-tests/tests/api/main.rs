//! The site-facing API, one handler at a time, as API Gateway would call it.

mod auth;
mod creator;
mod data;
mod emulated;
mod events;
mod faults;
mod fuzz;
mod hardening;
mod harness;
mod iam;
mod policy;
mod redirect;
mod refresher;
mod review;
mod scan;
mod shop;
mod template;
mod template_env;
mod webhook;
