using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Simulator.Internal;

namespace Usine.Simulator;

/// <summary>
/// The plant simulator of <c>usine demo</c>: plants with body, paint and assembly shops, vehicles moving through
/// the assembly stations, machines changing state, process values and electricity meters. Every choice comes
/// from one seeded random generator and every timestamp from a simulated clock that starts at the
/// <see cref="TimeProvider"/>'s time and advances by 1 / <see cref="SimulatorOptions.MessagesPerSecond"/> per
/// message, so the same seed and start time give the same messages, byte for byte.
/// </summary>
/// <remarks>
/// <see cref="Generate"/> and <see cref="NextEnergyFile"/> need no broker and no disk (tests use them);
/// <see cref="RunAsync"/> paces the same messages in real time to an MQTT broker and drops the energy files.
/// Not thread-safe: one caller at a time; <see cref="Counters"/> can be read from anywhere.
/// </remarks>
public sealed partial class PlantSimulator
{
    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    private static readonly BadKind[] ScrewingBad = [BadKind.Malformed, BadKind.MissingField, BadKind.OutOfRange, BadKind.WrongType, BadKind.UnknownEnum, BadKind.BadVin];
    private static readonly BadKind[] StateBad = [BadKind.Malformed, BadKind.MissingField, BadKind.OutOfRange, BadKind.WrongType, BadKind.UnknownEnum];

    // process_value has no range: out of range does not apply.
    private static readonly BadKind[] ProcessBad = [BadKind.Malformed, BadKind.MissingField, BadKind.WrongType, BadKind.UnknownEnum];
    private static readonly BadKind[] EnergyBad = [BadKind.Malformed, BadKind.MissingField, BadKind.OutOfRange, BadKind.WrongType];

    private readonly SimulatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Random _rng;

    // Energy files draw from their own generator, so that the MQTT messages do not depend on when files are written.
    private readonly Random _energyRng;
    private readonly List<SimPlant> _plants;
    private readonly SimLine[] _assemblyLines;
    private readonly SimMachine[] _machines;
    private readonly SimMachine[] _equipment;
    private readonly Queue<(SimStation Station, string Vin, int Spindle)> _screwing = new();
    private readonly ArrayBufferWriter<byte> _buffer = new(512);
    private readonly Utf8JsonWriter _writer;
    private readonly double _ticksPerMessage;
    private DateTime? _start;
    private long _sequence;
    private long _energyFiles;

    public PlantSimulator(SimulatorOptions options, TimeProvider? timeProvider = null, ILogger<PlantSimulator>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _rng = new Random(options.Seed);
        _energyRng = new Random(unchecked((options.Seed * 31) + 17));
        _plants = PlantLayout.Build(options.Plants, _rng, options.TopicPrefix);
        _assemblyLines = [.. _plants.SelectMany(p => p.Lines).Where(l => l.VehicleAt.Length > 0)];
        _machines = [.. _plants.SelectMany(p => p.Lines).SelectMany(l => l.Stations).SelectMany(s => s.Machines)];
        _equipment = [.. _machines.Where(m => m.Tags.Count > 0)];
        _ticksPerMessage = TimeSpan.TicksPerSecond / options.MessagesPerSecond;
        _writer = new Utf8JsonWriter(_buffer);

        // Lines start full, as a plant does at the start of a shift.
        foreach (var line in _assemblyLines)
        {
            for (var i = 0; i < line.VehicleAt.Length; i++)
            {
                line.VehicleAt[i] = NewVin(line.Plant);
            }
        }
    }

    public SimulatorOptions Options => _options;

    /// <summary>What has been generated, published and written so far.</summary>
    public SimulatorCounters Counters { get; } = new();

    /// <summary>Time of the first message: the time provider's time when the first message was made, to the millisecond.</summary>
    public DateTime? StartTime => _start;

    /// <summary>Names of the simulated plants, the first level after the topic prefix.</summary>
    public IReadOnlyList<string> Plants => _options.Plants;

    /// <summary>Machine ids (<c>{line}-{station}-{code}</c>, unique within a plant) per plant.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Machines =>
        _plants.ToDictionary(p => p.Name, p => (IReadOnlyList<string>)[.. p.Lines.SelectMany(l => l.Stations).SelectMany(s => s.Machines).Select(m => m.Id)]);

    /// <summary>The next <paramref name="count"/> MQTT messages, without any broker; counted in <see cref="Counters"/>.</summary>
    public IReadOnlyList<SimulatedMessage> Generate(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var list = new List<SimulatedMessage>(count);
        for (var i = 0; i < count; i++)
        {
            list.Add(Next());
        }

        return list;
    }

    /// <summary>
    /// The next energy file, without any disk: one reading per meter of every plant over the
    /// <see cref="SimulatorOptions.EnergyInterval"/> that ends at the file's time. The first file ends one
    /// interval after <see cref="StartTime"/>. Counted in <see cref="Counters"/>.
    /// </summary>
    public EnergyFile NextEnergyFile()
    {
        var start = Start();
        var interval = _options.EnergyInterval;
        var at = start + (interval * ++_energyFiles);
        var hours = interval.TotalHours;
        var sb = new StringBuilder(EnergyFile.Header).Append('\n');
        var bad = new List<BadKind?>();
        var ts = at.ToString(TimeFormat, CultureInfo.InvariantCulture);
        foreach (var plant in _plants)
        {
            foreach (var meter in plant.Meters)
            {
                var kw = meter.NominalKw * (0.85 + (0.3 * _energyRng.NextDouble()));
                var volts = 400 + (4 * Gaussian(_energyRng));
                var amps = kw * 1000 / volts;
                var wh = kw * hours * 1000;
                BadKind? b = _energyRng.NextDouble() < _options.BadRatio ? EnergyBad[_energyRng.Next(EnergyBad.Length)] : null;
                var meterCell = b == BadKind.MissingField ? "" : meter.Id;
                var whCell = b switch
                {
                    BadKind.OutOfRange => F(-wh, 1),
                    BadKind.WrongType => "n/a",
                    _ => F(wh, 1),
                };

                sb.Append(plant.Name).Append(',').Append(meterCell).Append(',').Append(ts).Append(',').Append(whCell).Append(',').Append(F(volts, 1));
                if (b != BadKind.Malformed)
                {
                    // A malformed row lacks its last cell, the CSV counterpart of cut JSON.
                    sb.Append(',').Append(F(amps, 2));
                }

                sb.Append('\n');
                bad.Add(b);
            }
        }

        var file = new EnergyFile($"energy-{at.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}.csv", Encoding.UTF8.GetBytes(sb.ToString()), bad, at);
        Counters.Count(file);
        return file;
    }

    private DateTime Start()
    {
        if (_start is null)
        {
            var now = _time.GetUtcNow().UtcDateTime;
            _start = new DateTime(now.Ticks - (now.Ticks % TimeSpan.TicksPerMillisecond), DateTimeKind.Utc);
        }

        return _start.Value;
    }

    private DateTime TimeOf(long sequence) => Start().AddTicks((long)(sequence * _ticksPerMessage));

    private SimulatedMessage Next()
    {
        var at = TimeOf(_sequence++);
        var roll = _rng.NextDouble();
        var kind = roll < 0.6 ? MessageKind.Screwing : roll < 0.75 ? MessageKind.MachineState : MessageKind.ProcessValue;
        var applicable = kind switch
        {
            MessageKind.Screwing => ScrewingBad,
            MessageKind.MachineState => StateBad,
            _ => ProcessBad,
        };
        BadKind? bad = _rng.NextDouble() < _options.BadRatio ? applicable[_rng.Next(applicable.Length)] : null;

        _buffer.Clear();
        _writer.Reset(_buffer);
        var topic = kind switch
        {
            MessageKind.Screwing => Screwing(at, bad),
            MessageKind.MachineState => State(at, bad),
            _ => Process(at, bad),
        };
        _writer.Flush();

        var payload = _buffer.WrittenSpan;
        if (bad == BadKind.Malformed)
        {
            // Cut in the middle: the object is never closed, so no parser accepts it.
            payload = payload[..(payload.Length / 2)];
        }

        var m = new SimulatedMessage(topic, payload.ToArray(), kind, bad, at);
        Counters.Count(m);
        return m;
    }

    private string Screwing(DateTime at, BadKind? bad)
    {
        if (_screwing.Count == 0)
        {
            Takt(_assemblyLines[_rng.Next(_assemblyLines.Length)]);
        }

        var (station, vin, spindle) = _screwing.Dequeue();
        var torque = station.NominalTorque * (1 + (0.02 * Gaussian()));
        var angle = station.NominalAngle + (25 * Gaussian());
        if (_rng.NextDouble() < 0.02)
        {
            // A real NOK: the joint gave way (low torque, large angle) or the screw jammed (high torque, small angle).
            var under = _rng.NextDouble() < 0.7;
            torque = station.NominalTorque * (under ? 0.7 + (0.15 * _rng.NextDouble()) : 1.12 + (0.1 * _rng.NextDouble()));
            angle = station.NominalAngle * (under ? 1.3 : 0.6);
        }

        var status = Math.Abs(torque - station.NominalTorque) > 0.1 * station.NominalTorque ? "NOK" : "OK";
        if (bad == BadKind.BadVin)
        {
            vin = BreakVin(vin);
        }

        var w = _writer;
        w.WriteStartObject();
        if (bad != BadKind.MissingField)
        {
            w.WriteString("VIN", vin);
        }

        w.WriteNumber("spindle", spindle);
        w.WriteString("time", at.ToString(TimeFormat, CultureInfo.InvariantCulture));
        w.WriteStartObject("result");
        switch (bad)
        {
            case BadKind.OutOfRange:
                w.WriteNumber("torque", 250);
                break;
            case BadKind.WrongType:
                w.WriteString("torque", "high");
                break;
            default:
                w.WriteNumber("torque", Math.Round(torque, 2));
                break;
        }

        w.WriteNumber("angle", Math.Round(Math.Max(0, angle), 1));
        w.WriteString("status", bad == BadKind.UnknownEnum ? "MAYBE" : status);
        w.WriteEndObject();
        w.WriteString("program", station.Program);
        w.WriteEndObject();
        return station.TopicBase + "/screwing";
    }

    // The line moves one station: each vehicle goes to the next station, a new one enters, the last one leaves.
    private void Takt(SimLine line)
    {
        var at = line.VehicleAt;
        Array.Copy(at, 0, at, 1, at.Length - 1);
        at[0] = NewVin(line.Plant);
        for (var i = 0; i < at.Length; i++)
        {
            var st = line.Stations[i];
            for (var s = 1; s <= st.Spindles; s++)
            {
                _screwing.Enqueue((st, at[i]!, s));
            }
        }
    }

    private string State(DateTime at, BadKind? bad)
    {
        var m = _machines[_rng.Next(_machines.Length)];
        if (m.State == MachineState.Running)
        {
            m.Cycles += _rng.Next(1, 40);
        }

        m.State = NextState(m.State);
        var (state, reason) = m.State switch
        {
            MachineState.Running => ("RUNNING", "PRODUCTION"),
            MachineState.Idle => ("IDLE", _rng.Next(2) == 0 ? "STARVED" : "BLOCKED"),
            MachineState.Stopped => ("STOPPED", _rng.Next(2) == 0 ? "BREAK" : "PLANNED_STOP"),
            MachineState.Fault => ("FAULT", FaultReasons[_rng.Next(FaultReasons.Length)]),
            _ => ("SETUP", _rng.Next(2) == 0 ? "PROGRAM_CHANGE" : "TOOL_CHANGE"),
        };

        var w = _writer;
        w.WriteStartObject();
        if (bad != BadKind.MissingField)
        {
            w.WriteString("machine", m.Id);
        }

        w.WriteNumber("ts", new DateTimeOffset(at).ToUnixTimeMilliseconds());
        w.WriteString("state", bad == BadKind.UnknownEnum ? "MAYBE" : state);
        w.WriteString("reason", reason);
        switch (bad)
        {
            case BadKind.OutOfRange:
                w.WriteNumber("cycles", -1);
                break;
            case BadKind.WrongType:
                w.WriteString("cycles", "many");
                break;
            default:
                w.WriteNumber("cycles", m.Cycles);
                break;
        }

        w.WriteEndObject();
        return m.Station.TopicBase + "/state";
    }

    private static readonly string[] FaultReasons = ["E_STOP", "GRIPPER_FAULT", "SERVO_OVERLOAD", "SENSOR_FAULT", "COLLISION"];

    private MachineState NextState(MachineState s)
    {
        var r = _rng.NextDouble();
        return s switch
        {
            MachineState.Running => r < 0.5 ? MachineState.Idle : r < 0.65 ? MachineState.Stopped : r < 0.9 ? MachineState.Fault : MachineState.Setup,
            MachineState.Idle => r < 0.85 ? MachineState.Running : r < 0.95 ? MachineState.Stopped : MachineState.Fault,
            MachineState.Stopped => r < 0.7 ? MachineState.Running : MachineState.Setup,
            MachineState.Fault => r < 0.6 ? MachineState.Running : r < 0.9 ? MachineState.Stopped : MachineState.Setup,
            _ => MachineState.Running,
        };
    }

    private string Process(DateTime at, BadKind? bad)
    {
        var m = _equipment[_rng.Next(_equipment.Length)];
        var tag = m.Tags[_rng.Next(m.Tags.Count)];

        // A random walk pulled back to the nominal value, so the curve looks like a regulated process.
        tag.Current += (0.3 * tag.Spread * Gaussian()) - (0.1 * (tag.Current - tag.Nominal));
        var q = _rng.NextDouble();
        var quality = q < 0.97 ? "GOOD" : q < 0.99 ? "UNCERTAIN" : "BAD";

        var w = _writer;
        w.WriteStartObject();
        w.WriteString("equipment", m.Id);
        if (bad != BadKind.MissingField)
        {
            w.WriteString("tag", tag.Name);
        }

        w.WriteString("ts", at.ToString(TimeFormat, CultureInfo.InvariantCulture));
        w.WriteStartObject("value");
        if (bad == BadKind.WrongType)
        {
            w.WriteString("v", "high");
        }
        else
        {
            w.WriteNumber("v", Math.Round(tag.Current, 2));
        }

        w.WriteString("q", bad == BadKind.UnknownEnum ? "MAYBE" : quality);
        w.WriteEndObject();
        w.WriteString("unit", tag.Unit);
        w.WriteEndObject();
        return m.Station.TopicBase + "/process";
    }

    private string NewVin(SimPlant plant)
    {
        var descriptor = plant.Descriptors[_rng.Next(plant.Descriptors.Length)];
        var serial = plant.NextSerial;
        plant.NextSerial = serial >= 999_999 ? 0 : serial + 1;
        return Vin.Create("VF1", descriptor, 2025, plant.PlantCode, serial);
    }

    private string BreakVin(string vin) => _rng.Next(3) switch
    {
        0 => string.Concat(vin.AsSpan(0, 4), "O", vin.AsSpan(5)),
        1 => string.Concat(vin.AsSpan(0, 10), "I", vin.AsSpan(11)),
        _ => vin[..16],
    };

    private double Gaussian() => Gaussian(_rng);

    private static double Gaussian(Random rng)
    {
        // Box-Muller; 1 - NextDouble() is in (0, 1] so the logarithm is finite.
        var u1 = 1 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static string F(double d, int decimals) => Math.Round(d, decimals).ToString(CultureInfo.InvariantCulture);
}
