/* conformance.c - placeholder until the conformance suite lands. */
