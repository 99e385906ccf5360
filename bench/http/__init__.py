"""HTTP load benchmark: the exam-start herd and sustained answer saves against gunicorn on loopback."""
