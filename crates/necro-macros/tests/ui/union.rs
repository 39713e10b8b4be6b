use necro_core::Payload;

#[derive(Payload)]
#[payload(event_type = "HELLO")]
union Hello {
    id: u32,
}

fn main() {}
