"""jaxbail: in-context Bayesian imitation (BAIL) in latent-task POMDPs, jit-compiled and batched."""
