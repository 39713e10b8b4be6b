use necro_core::Payload;

#[derive(Payload)]
#[payload(event_type = "HELLO")]
#[payload(event_type = "HI")]
struct Hello {
    name: String,
}

fn main() {}
