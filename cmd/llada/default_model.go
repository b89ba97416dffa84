package main

import (
	"errors"

	"github.com/llada-go/llada"
)

var errNoDefault = errors.New("no embedded default model in this build yet: pass --model DIR")

func openDefaultModel(opts ...llada.Option) (*llada.Model, error) { return nil, errNoDefault }

func defaultModelBytes() ([]byte, error) { return nil, errNoDefault }
