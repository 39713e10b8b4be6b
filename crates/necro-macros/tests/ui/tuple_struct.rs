use necro_core::Payload;

#[derive(Payload)]
#[payload(event_type = "PAIR")]
struct Pair(u32, u32);

fn main() {}
