//! The operating system, read safely: named files and the running user.
