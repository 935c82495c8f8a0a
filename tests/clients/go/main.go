// Command flightsql-probe runs one check with arrow-go's Flight SQL client against a Flight SQL server
// and prints what it saw as one JSON object, for the project's tests to assert on.
//
//	flightsql-probe query ADDRESS SQL      every endpoint read at its own location: rows, sum of column 0
//	flightsql-probe prepared ADDRESS SQL N  a prepared statement with one int64 parameter bound to N
//
// ADDRESS is host:port (no TLS, no login). A failure prints {"error": "..."} and exits with 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type report struct {
	Rows      int64    `json:"rows"`
	Sum       int64    `json:"sum"`
	Endpoints int      `json:"endpoints"`
	Locations []string `json:"locations"`
	Error     string   `json:"error,omitempty"`
}

func connect(address string) (*flightsql.Client, error) {
	return flightsql.NewClient(address, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// readAll reads every endpoint of info at its first location (or at the client's own address when it
// has none) and adds its rows and the sum of its first column (int64) to out.
func readAll(ctx context.Context, address string, info *flight.FlightInfo, out *report) error {
	out.Endpoints = len(info.Endpoint)
	for _, endpoint := range info.Endpoint {
		target := address
		if len(endpoint.Location) > 0 {
			parsed, err := url.Parse(endpoint.Location[0].Uri)
			if err != nil {
				return err
			}
			target = parsed.Host
			out.Locations = append(out.Locations, endpoint.Location[0].Uri)
		}
		client, err := connect(target)
		if err != nil {
			return err
		}
		err = readEndpoint(ctx, client, endpoint.Ticket, out)
		client.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func readEndpoint(ctx context.Context, client *flightsql.Client, ticket *flight.Ticket, out *report) error {
	reader, err := client.DoGet(ctx, ticket)
	if err != nil {
		return err
	}
	defer reader.Release()
	for reader.Next() {
		batch := reader.RecordBatch()
		out.Rows += batch.NumRows()
		column, ok := batch.Column(0).(*array.Int64)
		if !ok {
			return fmt.Errorf("column 0 is %s, not int64", batch.Column(0).DataType())
		}
		for i := 0; i < column.Len(); i++ {
			out.Sum += column.Value(i)
		}
	}
	return reader.Err()
}

func run(ctx context.Context, args []string) (*report, error) {
	if len(args) < 3 {
		return nil, fmt.Errorf("usage: flightsql-probe query|prepared ADDRESS SQL [N]")
	}
	command, address, sql := args[0], args[1], args[2]
	client, err := connect(address)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	out := &report{Locations: []string{}}
	switch command {
	case "query":
		info, err := client.Execute(ctx, sql)
		if err != nil {
			return nil, err
		}
		return out, readAll(ctx, address, info, out)
	case "prepared":
		if len(args) < 4 {
			return nil, fmt.Errorf("prepared needs the parameter's value")
		}
		value, err := strconv.ParseInt(args[3], 10, 64)
		if err != nil {
			return nil, err
		}
		statement, err := client.Prepare(ctx, sql)
		if err != nil {
			return nil, err
		}
		defer statement.Close(ctx)
		builder := array.NewInt64Builder(memory.DefaultAllocator)
		defer builder.Release()
		builder.Append(value)
		parameter := builder.NewArray()
		defer parameter.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "0", Type: arrow.PrimitiveTypes.Int64}}, nil)
		binding := array.NewRecordBatch(schema, []arrow.Array{parameter}, 1)
		defer binding.Release()
		statement.SetParameters(binding)
		info, err := statement.Execute(ctx)
		if err != nil {
			return nil, err
		}
		return out, readAll(ctx, address, info, out)
	}
	return nil, fmt.Errorf("unknown command %q", command)
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := run(ctx, os.Args[1:])
	code := 0
	if err != nil {
		out = &report{Locations: []string{}, Error: err.Error()}
		code = 1
	}
	if encodeErr := json.NewEncoder(os.Stdout).Encode(out); encodeErr != nil {
		code = 1
	}
	os.Exit(code)
}
