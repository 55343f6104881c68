//! One module per subcommand: its clap arguments and its `run`.

pub mod branch;
pub mod cat;
pub mod checkout;
pub mod column;
pub mod commit;
pub mod completions;
pub mod diff;
pub mod export;
pub mod gc;
pub mod import;
pub mod init;
pub mod log;
pub mod merge;
pub mod metadata;
pub mod quickstart;
pub mod remote;
pub mod reset;
pub mod rm;
pub mod show;
pub mod status;
pub mod summary;
pub mod verify;
pub mod writer_lock;
