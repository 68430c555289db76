package main

var _ = undefinedOnWindows
