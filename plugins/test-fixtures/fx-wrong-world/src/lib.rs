//! Test fixture `fx-wrong-world`: a valid component of an unrelated world
//! (`fx:other/other`, exporting `hello`), so the host's "does not match any eddy:plugin world"
//! error can be tested.

// The generated bindings and their exports are `unsafe` by nature.
#![allow(unsafe_code)]

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package fx:other;
            world other {
                export hello: func() -> string;
            }
        ",
        world: "fx:other/other",
    });
}

struct WrongWorld;

impl bindings::Guest for WrongWorld {
    fn hello() -> String {
        "hello from a world Eddy does not know".to_owned()
    }
}

bindings::export!(WrongWorld with_types_in bindings);
