use necro_core::Payload;

#[derive(Payload)]
struct Hello {
    name: String,
}

fn main() {}
