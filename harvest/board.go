package harvest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"periph.io/x/host/v3"
	"periph.io/x/host/v3/am335x"
	"periph.io/x/host/v3/beagle/bone"
	"periph.io/x/host/v3/distro"
)

// Board sources read sensors through Linux sysfs under a root folder ("/"
// normally, a fake tree in tests):
//
//   - adc: the AM335x's 12-bit ADC through IIO
//     (sys/bus/iio/devices/iio:deviceN/in_voltageM_raw), low 8 bits of each
//     reading, assessed at adcBitsPerSample.
//   - thermal: sys/class/thermal/thermal_zone*/temp, mixed but credited 0
//     bits (a temperature read twice a millisecond apart barely moves).
//
// Neither needs periph.io to read. When the ADC was read, the report's
// table (entropy-source sources) names the board through periph.io's
// host.Init and board detection; a run that prints no table never calls
// it. No hardware means unavailable.

var boardOnce struct {
	sync.Once
	name string
}

// boardName runs periph.io's host.Init once and names the board, or "".
func boardName() string {
	boardOnce.Do(func() {
		if _, err := host.Init(); err != nil {
			return
		}
		switch {
		case bone.Present():
			boardOnce.name = "BeagleBone"
		case am335x.Present():
			boardOnce.name = "AM335x"
		default:
			if m := distro.DTModel(); m != "" && !strings.HasPrefix(m, "<") {
				boardOnce.name = m
			}
		}
	})
	return boardOnce.name
}

type adcSource struct {
	root    string // sysfs root: "/" or a fake tree
	samples int
	detect  bool // the real board: the table names it (Report.board)
}

func (adcSource) Name() string { return "adc" }

func (s adcSource) withSamples(n int) entropySource { s.samples = n; return s }

// adcChannels lists the IIO voltage inputs under root, in a stable order.
func adcChannels(root string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(root, "sys/bus/iio/devices/iio:device*/in_voltage*_raw"))
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	return paths, nil
}

func (s adcSource) Read(ctx context.Context) (reading, error) {
	chans, err := adcChannels(s.root)
	if err != nil {
		return reading{}, err
	}
	if len(chans) == 0 {
		return reading{}, unavailable("no IIO ADC under %s", filepath.Join(s.root, "sys/bus/iio/devices"))
	}
	// Each channel's samples are consecutive, so a stuck channel shows as
	// a run the repetition count test sees.
	per := max(s.samples/len(chans), 2*rctCutoff(adcBitsPerSample, defaultAlphaLog2))
	data := make([]byte, 0, per*len(chans))
	for _, c := range chans {
		for range per {
			if err := ctx.Err(); err != nil {
				return reading{}, err
			}
			v, err := readSysfsInt(c)
			if err != nil {
				if errors.Is(err, fs.ErrPermission) {
					return reading{}, unavailable("permission denied reading %s", c)
				}
				return reading{}, err
			}
			data = append(data, byte(v))
		}
	}
	return reading{Data: data, BitsPerSample: adcBitsPerSample, Note: fmt.Sprintf("%d channels", len(chans))}, nil
}

type thermalSource struct {
	root  string
	reads int // readings per zone
}

func (thermalSource) Name() string { return "thermal" }

func (s thermalSource) Read(ctx context.Context) (reading, error) {
	zones, err := filepath.Glob(filepath.Join(s.root, "sys/class/thermal/thermal_zone*/temp"))
	if err != nil {
		return reading{}, err
	}
	slices.Sort(zones)
	var data []byte
	for _, z := range zones {
		for range max(s.reads, 1) {
			if err := ctx.Err(); err != nil {
				return reading{}, err
			}
			v, err := readSysfsInt(z)
			if err != nil {
				continue // a zone whose sensor is off reads as an error (ENODATA)
			}
			data = strconv.AppendInt(data, v, 10)
			data = append(data, '\n')
		}
	}
	if len(data) == 0 {
		return reading{}, unavailable("no readable thermal zone under %s", filepath.Join(s.root, "sys/class/thermal"))
	}
	return reading{Data: data, BitsPerSample: 0, Note: fmt.Sprintf("%d zones, mixed, not credited", len(zones))}, nil
}

// readSysfsInt reads a sysfs attribute holding one decimal integer.
func readSysfsInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: not an integer", path)
	}
	return v, nil
}
