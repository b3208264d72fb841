GPU = False
