"""Reinforcement learning: the course's Mouse Game and Deep Q-Learning. It has its own loop and
reuses models, engine.runtime, engine.checkpoint and report."""
