use necro_core::Payload;

#[derive(Payload)]
#[payload(event = "HELLO")]
struct Hello {
    name: String,
}

fn main() {}
