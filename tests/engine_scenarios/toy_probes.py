"""Probes of the toy homework: run inside the sandbox, standard library only."""


def add(ns, a, b):
    return ns["add"](a, b)


def words(ns, text):
    return ns["count_words"](text)


def scale(ns, values, factor):
    return list(ns["scale"](values, factor))
