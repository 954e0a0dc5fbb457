//! `plain-schema`: keeps `graphql/schema.graphql` in step with Plain's schema.

fn main() {}
