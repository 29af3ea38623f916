//! Writes the man page and shell completions into `share/` (run by
//! `scripts/gen-docs`; a test fails when they are stale).

mod docs;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("share");
    for (path, bytes) in docs::files().expect("render") {
        let file = root.join(&path);
        std::fs::create_dir_all(file.parent().expect("a directory")).expect("mkdir");
        std::fs::write(&file, bytes).expect("write");
        println!("wrote share/{path}");
    }
}
