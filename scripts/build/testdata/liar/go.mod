module example.com/liar

go 1.26
