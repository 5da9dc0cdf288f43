"""Kinerja planning: the roster (schools, people, who assesses whom), periods and their
policy, and plans (SKP) with their approval by the assessor."""
