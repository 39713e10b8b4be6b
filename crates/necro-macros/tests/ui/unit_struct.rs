use necro_core::Payload;

#[derive(Payload)]
#[payload(event_type = "PING")]
struct Ping;

fn main() {}
