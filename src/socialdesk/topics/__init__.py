"""What customers are talking about: the words and pairs of words that rise above the usual."""
