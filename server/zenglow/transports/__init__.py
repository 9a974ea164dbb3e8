"""Transports translate a wire protocol to and from a Session, nothing else."""
