//! Gives libhangar.so the soname C programs record: `libhangar.so.<major>` for 1.x and
//! later, `libhangar.so.0.<minor>` before 1.0 (cargo-c's rule: in 0.x a minor bump breaks).
fn main() {
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
    let minor = env!("CARGO_PKG_VERSION_MINOR");
    let soname = if major == 0 {
        format!("libhangar.so.0.{minor}")
    } else {
        format!("libhangar.so.{major}")
    };
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
