"""The parts of the page: serving status, classify (with why and feedback), batch, model."""
