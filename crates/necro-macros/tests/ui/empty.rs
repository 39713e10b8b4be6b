use necro_core::Payload;

#[derive(Payload)]
#[payload(event_type = "")]
struct Hello {
    name: String,
}

fn main() {}
