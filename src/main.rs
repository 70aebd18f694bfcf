#![forbid(unsafe_code)]

fn main() {
    println!("odoo-warden");
}
