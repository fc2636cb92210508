"""The Markov transition model: vocabulary, counts, surprisal, scoring, calibration and the artifact format."""
