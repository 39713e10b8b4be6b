use necro_core::Payload;

#[derive(Payload)]
#[payload(event_type = "HELLO ")]
struct Hello {
    name: String,
}

fn main() {}
