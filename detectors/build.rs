//! The detectors and views under `sql/` are embedded with `include_dir!`, which cannot tell
//! Cargo on a stable toolchain that the crate depends on those files: without this, a change
//! to the SQL alone left an existing build (a reused target directory) with the old SQL.
fn main() {
    println!("cargo:rerun-if-changed=../sql/detectors");
    println!("cargo:rerun-if-changed=../sql/views");
}
