fn main() {
    std::process::exit(omni_launch::app::main());
}
