fn main() { println!("conti-cli"); }
