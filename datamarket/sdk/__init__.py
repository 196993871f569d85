"""The consumer and publisher SDK: publish, buy and download against a market and its provider."""
