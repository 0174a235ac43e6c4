//! Release builds of the `ostiary` binary lay out its code in the order of `symbol-order.txt`: the
//! functions a running server executes, packed together at the start of `.text`, instead of
//! spread over its 25 MB. The kernel maps a binary's code 64 KiB at a time around each page a
//! process touches, so packed code keeps an idle server at about 23 MiB of memory instead of 32,
//! and the hot paths share fewer pages and TLB entries (docs/performance.md, "Code laid out in
//! the order it runs"). `scripts/symbol-order.sh` writes the file; a function it does not name
//! (new, renamed, or not run by the benchmark) is placed after the named ones, as before, so a
//! stale file costs memory, never correctness.
//!
//! Only rust-lld (the default linker of `x86_64-unknown-linux-gnu` since Rust 1.90) and mold read
//! an ordering file; `OSTIARY_SYMBOL_ORDER=off` builds without it, for any other linker.

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=OSTIARY_SYMBOL_ORDER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    // `PROFILE` is `release` for the release profile and the profiles that inherit from it.
    let wanted = var("PROFILE") == "release"
        && var("TARGET") == "x86_64-unknown-linux-gnu"
        && var("OSTIARY_SYMBOL_ORDER") != "off";
    if !wanted {
        return;
    }
    let file = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    if file.exists() {
        println!("cargo:rustc-link-arg-bin=ostiary=-Wl,--symbol-ordering-file={}", file.display());
        // Names from another build (a dependency upgraded, a function renamed) are skipped quietly.
        println!("cargo:rustc-link-arg-bin=ostiary=-Wl,--no-warn-symbol-ordering");
    }
}
