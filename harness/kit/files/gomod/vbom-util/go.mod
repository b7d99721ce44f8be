module vbom.ml/util

go 1.12

require github.com/fvbommel/sortorder v1.0.1
