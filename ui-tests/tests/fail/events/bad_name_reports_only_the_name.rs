//! A mistake elsewhere in `#[flovyn_plugin(...)]` (here the name) is the only error: the
//! declared events stay events, so code publishing them raises nothing more.
use flovyn_sdk::prelude::*;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BookmarkCreated {
    pub id: String,
}

#[flovyn_plugin(name = "Bookmarks", events = [BookmarkCreated])]
#[derive(Default)]
pub struct Bookmarks;

pub async fn publish(tx: &mut flovyn_sdk::Transaction) -> Result<(), flovyn_sdk::events::PublishError> {
    tx.publish(&BookmarkCreated { id: "b-1".to_owned() }).await
}

fn main() {}
