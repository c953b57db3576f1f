"""The toy world: a procedural world and a tiny model pretrained on it, on which learning a concept is measurable."""
