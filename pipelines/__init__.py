"""Jobs that make datasets: the face pipeline (Ray) and the synthetic generators.

Heavy imports (ray, decord, mediapipe) happen inside the modules that need them, never here.
"""
