//! Link settings for the shipped binary.
//!
//! With `panic = "abort"` nothing ever unwinds, so the unwind tables (`.eh_frame` and the
//! language-specific data they point to) serve only to print a backtrace after a panic: 0.5 MB of
//! the 4.5 MB static binary, most of it from the prebuilt std, which `-C force-unwind-tables=no`
//! cannot reach. They are dropped at link time. A panic still prints its message and location;
//! `RUST_BACKTRACE=1` then shows no frames (the release binary is stripped, so it showed only
//! addresses before). Debug builds and tests, which unwind, keep them.

use std::env;
use std::fs;
use std::io;
use std::path::PathBuf;

/// Augments the linker's default script (GNU ld, the musl target's default through `cc`, and
/// lld understand `INSERT`; mold does not). crtbegin/crtend register the (now empty) frame
/// list at startup, so their own marker sections stay.
const DISCARD_UNWIND_TABLES: &str = "\
SECTIONS {
  /DISCARD/ : {
    EXCLUDE_FILE(*crtbegin*.o *crtend*.o) *(.eh_frame)
    *(.gcc_except_table .gcc_except_table.*)
  }
} INSERT AFTER .text;
";

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed=build.rs");
    // Cargo tells build scripts the profile, not its panic strategy (`CARGO_CFG_PANIC` is the
    // target's default): the release profile is the one with `panic = "abort"` (Cargo.toml).
    let aborts_on_panic = env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !(aborts_on_panic && linux) {
        return Ok(());
    }
    let out_dir = env::var_os("OUT_DIR").ok_or_else(|| io::Error::other("OUT_DIR is not set"))?;
    let script = PathBuf::from(out_dir).join("discard-unwind-tables.ld");
    fs::write(&script, DISCARD_UNWIND_TABLES)?;
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    Ok(())
}
