"""The Markov transition model: vocabulary, counts, surprisal, scoring, calibration, the per-user cap and the
artifact format. Pure maths and format: storage is reached only through the ``ports.BlobStore`` protocol."""
