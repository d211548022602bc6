package scan

import "github.com/portkit/ports"

// TopPorts returns the first n ports of the project's ranked list of
// commonly deployed service ports for proto (ProtoTCP or ProtoUDP), most
// commonly deployed first: the list behind --top N. An n beyond the list
// returns the whole list (1,090 TCP ports, 100 UDP ports); n <= 0, or another
// protocol, returns nil. The result is a new slice.
//
// The list is the project's own, ranked in tiers by judgement from the IANA
// registry and vendors' documentation of default ports; see
// docs/TOP-PORTS.md for what it holds and why. It is not derived from
// nmap's data files.
func TopPorts(proto ports.Proto, n int) []ports.Port {
	list := topList(proto)
	if n <= 0 || len(list) == 0 {
		return nil
	}
	n = min(n, len(list))
	out := make([]ports.Port, n)
	copy(out, list[:n])
	return out
}

// DefaultPorts returns the ports scanned for proto when none are given: the
// first TopDefaultTCP ports of the TCP list, or the first TopDefaultUDP of
// the UDP list, held for proto only ("T:" or "U:" in ParseSet's grammar).
// Other protocols get an empty Set.
func DefaultPorts(proto ports.Proto) ports.Set {
	var s ports.Set
	n := TopDefaultTCP
	if proto == ports.ProtoUDP {
		n = TopDefaultUDP
	}
	for _, p := range TopPorts(proto, n) {
		s.Add(proto, ports.Range{First: p, Last: p})
	}
	return s
}

// The sizes of the default port sets.
const (
	TopDefaultTCP = 1000
	TopDefaultUDP = 100
)

func topList(proto ports.Proto) []ports.Port {
	switch proto {
	case ports.ProtoTCP:
		return topTCP[:]
	case ports.ProtoUDP:
		return topUDP[:]
	}
	return nil
}

// topNote explains a listed port that the IANA registry does not assign.
type topNote struct {
	port ports.Port
	why  string
}

// topTCP is the project's ranked list of commonly deployed TCP service
// ports, most likely first, in tiers; docs/TOP-PORTS.md gives the rationale.
// It is the project's own, written from the IANA registry and vendors'
// documentation of default ports, not derived from nmap-services.
var topTCP = [...]ports.Port{
	// Tier 1: web, remote shells, mail, name service, Windows and Unix file sharing.
	80, 443, 22, 21, 25, 23, 53, 3389, 445, 139, 135, 110,
	143, 993, 995, 587, 465, 8080, 8443, 111, 2049, 5900, 389, 636,
	88, 8000, 8888, 3306, 5432, 1433, 1521, 6379, 27017, 179, 1723, 554,
	5060, 631, 9100, 515, 548, 20, 113, 119, 1080, 3128, 5985, 5986,
	161, 853,
	// Tier 2: common alternate web ports and administrative web consoles.
	81, 8008, 8081, 8001, 8082, 8088, 8090, 8180, 8880, 9443, 4443, 10443,
	7443, 8181, 8089, 8444, 9080, 9090, 9091, 8083, 8084, 8085, 8087, 8800,
	3000, 5000, 9000, 4000, 8002, 8003, 8009, 10000, 7001, 7002, 4848, 9043,
	9060, 8280, 591, 593, 8118, 8123, 8200, 2082, 2083, 2086, 2087, 2095,
	2096, 8006, 9999,
	// Tier 3: directory, authentication and Windows infrastructure.
	464, 3268, 3269, 749, 49, 1812, 1645, 9389, 5722, 47001, 49152, 49153,
	49154, 49155, 49156, 49157, 1025, 1026, 1029, 2103, 2105, 2107, 1801, 8530,
	8531, 5357, 1311, 623, 16992, 16993,
	// Tier 4: remote access, VPN and remote management.
	2222, 5800, 5901, 5902, 5903, 5904, 5905, 5906, 5631, 4899, 5938, 6000,
	6001, 6002, 6003, 513, 514, 512, 992, 902, 903, 1494, 2598, 1194,
	1701, 943, 4433, 3390, 5500, 6129, 6080, 3283, 8291, 8728, 8729, 7547,
	2000, 2001, 4786, 22222, 830, 6513, 500,
	// Tier 5: databases and data platforms.
	5433, 3307, 33060, 50000, 9042, 9160, 7199, 7000, 5984, 8091, 11210, 28015,
	7474, 7687, 8529, 9300, 26257, 2379, 2380, 2181, 2888, 3888, 8086, 9009,
	26379, 27018, 27019, 3050, 2483, 2484, 1526, 1630, 4100, 2638, 5050, 1434,
	9200, 5601, 11211,
	// Tier 6: message brokers, chat and real-time messaging.
	5672, 5671, 15672, 4369, 9092, 9093, 61616, 61613, 1883, 8883, 4222, 6222,
	8222, 6650, 5222, 5223, 5269, 5280, 6667, 6697, 6660, 6661, 6662, 6663,
	6664, 6665, 6666, 6668, 6669, 1414, 7676, 5190, 1863, 3478, 5349,
	// Tier 7: monitoring, logging and tracing.
	199, 10050, 10051, 5666, 2003, 2004, 4242, 601, 6514, 5044, 9600, 12201,
	24224, 4317, 4318, 14250, 16686, 9411, 9997, 8125, 6556, 1270, 8649, 3493,
	3551, 19999, 9101, 9102, 9103, 9104,
	// Tier 8: containers, orchestration, configuration management and CI.
	2375, 2376, 2377, 7946, 6443, 10250, 10255, 10257, 10259, 4194, 8300, 8301,
	8500, 8600, 4646, 8140, 4505, 4506, 4040, 7077, 8042, 50070, 9870, 8020,
	16010, 9418, 3690, 2401, 6006, 8384, 22000, 9229, 5005, 8069, 8983,
	// Tier 9: voice, video and streaming media.
	5061, 1720, 1719, 2427, 5038, 1935, 8554, 7070, 1755, 5004, 3479, 3480,
	32400, 8096, 64738, 3784, 9987,
	// Tier 10: file transfer, storage and backup.
	873, 989, 990, 69, 3260, 860, 5001, 6881, 51413, 4662, 2811, 115,
	6346, 10080, 13720, 13721, 13722, 13724, 13782, 497, 6690, 17500, 3205, 2010,
	// Tier 11: printing, scanning and device discovery.
	6566, 5353, 1900, 427, 3702, 2869, 8611, 8612,
	// Tier 12: industrial control, building automation and IoT.
	502, 102, 20000, 44818, 2404, 4840, 1911, 4911, 47808, 1962, 789, 18245,
	20547, 2455, 5683, 5684, 2323, 37215, 34567, 37777, 8899, 10001, 5007, 5094,
	34962, 34963, 34964, 4843, 11001, 41794,
	// Tier 13: proxies, anonymity networks and cryptocurrency nodes.
	3129, 9050, 9051, 1081, 1085, 8333, 8332, 30303, 8545, 9735, 9001,
	// Tier 14: developer and application servers.
	3001, 4200, 5173, 1313, 4567, 8787, 8501, 7860, 11434, 5555, 8005, 8015,
	8100, 9002, 9005, 3030, 4001, 7080, 8097, 8070, 5080, 8889, 8282, 8383,
	8686, 8989, 9191, 9292, 9595, 9898, 7878, 8112, 6789, 7100,
	// Tier 15: games and consumer services.
	25565, 27015, 27016, 7777, 3724, 6112, 3074, 2302, 7171, 6969, 62078, 24800,
	3689, 5009,
	// Tier 16: mail and news extras, legacy Internet services.
	109, 220, 106, 2525, 366, 406, 563, 3310, 4190, 7, 9, 13,
	17, 19, 37, 43, 70, 79, 1110, 209, 158, 540, 543, 544,
	3632, 4045, 5400, 5550, 6100, 6502, 8007, 8016, 9010,
	// Tier 17: every other TCP port below 1024 that IANA assigns to a service, in numeric order: system ports are privileged, so a listener there was put there by an administrator.
	1, 5, 11, 18, 27, 29, 31, 33, 38, 39, 41, 42,
	44, 45, 46, 48, 50, 52, 54, 55, 56, 58, 62, 63,
	64, 65, 66, 67, 68, 71, 72, 73, 74, 76, 78, 82,
	83, 84, 85, 86, 89, 90, 91, 92, 93, 94, 95, 96,
	97, 98, 99, 101, 103, 104, 105, 107, 108, 112, 116, 117,
	118, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130,
	131, 132, 133, 134, 136, 137, 138, 140, 141, 142, 144, 145,
	146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157,
	159, 160, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171,
	172, 173, 174, 175, 176, 177, 178, 180, 181, 182, 183, 184,
	185, 186, 187, 188, 189, 190, 191, 192, 193, 194, 195, 196,
	197, 198, 200, 201, 202, 203, 204, 205, 206, 207, 208, 210,
	211, 212, 213, 214, 215, 216, 217, 218, 219, 221, 222, 223,
	224, 242, 243, 244, 245, 246, 247, 248, 256, 257, 259, 260,
	261, 262, 263, 264, 265, 266, 267, 268, 269, 271, 280, 281,
	282, 283, 284, 286, 287, 300, 308, 309, 310, 311, 312, 313,
	314, 315, 316, 317, 318, 319, 320, 321, 322, 323, 324, 333,
	344, 345, 346, 347, 348, 349, 350, 351, 352, 353, 354, 355,
	356, 357, 358, 360, 361, 362, 363, 364, 365, 367, 368, 369,
	370, 371, 372, 373, 374, 375, 376, 377, 378, 379, 380, 381,
	382, 383, 384, 385, 386, 387, 388, 390, 391, 392, 393, 394,
	395, 396, 397, 398, 399, 400, 401, 402, 403, 404, 405, 407,
	408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 419,
	420, 421, 422, 423, 424, 425, 426, 428, 429, 430, 431, 432,
	433, 434, 435, 436, 437, 438, 439, 440, 441, 442, 444, 446,
	447, 448, 449, 450, 451, 452, 453, 454, 455, 456, 457, 458,
	459, 460, 461, 462, 463, 466, 467, 468, 469, 470, 471, 472,
	473, 474, 475, 476, 477, 478, 479, 480, 481, 482, 483, 484,
	485, 486, 487, 488, 489, 490, 491, 492, 493, 494, 495, 496,
	498, 499, 501, 503, 504, 505, 506, 507, 508, 509, 510, 511,
	516, 517, 518, 519, 520, 521, 522, 523, 524, 525, 526, 527,
	528, 529, 530, 531, 532, 533, 534, 535, 536, 537, 538, 539,
	541, 542, 545, 546, 547, 549, 550, 551, 552, 553, 555, 556,
	557, 558, 559, 560, 561, 562, 564, 565, 566, 567, 568, 569,
	570, 571, 572, 573, 574, 575, 576, 577, 578, 579, 580, 581,
	582, 583, 584, 586, 588, 589, 590, 592, 594, 595, 596, 597,
	598, 599, 600, 602, 603, 604, 605, 606, 607, 608, 609, 610,
	611, 612, 613, 614, 615, 616, 617, 618, 619, 620, 621, 622,
	624, 625, 626, 627, 628, 629, 630, 632, 633, 634, 635, 637,
	638, 639, 640, 641, 642, 643, 644, 645, 646, 647, 648, 649,
	650, 651, 652, 653, 654, 655, 656, 657, 658, 660, 661, 662,
	663, 664, 665, 666, 667, 668, 669, 670, 671, 672, 673, 674,
	675, 676, 677, 678, 679, 680, 681, 682, 683, 684, 685, 686,
	687, 688, 689, 690, 691, 692, 693, 694, 695, 696, 697, 698,
	699, 700, 701, 702, 704, 705, 706, 707, 709, 710, 711, 712,
	713, 714, 715, 729, 730, 731, 741, 742, 744, 747, 748, 750,
	751, 752, 753, 754, 758, 759, 760, 761, 762, 763, 764, 765,
	767, 769, 770, 771, 772, 773, 774, 775, 776, 777, 780, 800,
	801, 802, 810, 828, 829, 847, 848, 854, 861, 862, 886, 887,
	888, 900, 901, 910, 911, 912, 913, 953, 991, 996, 997, 998,
	999, 1000, 1001, 1010, 1021, 1022,
}

// topTCPUnregistered gives, for each port of topTCP that IANA assigns no
// service (for that protocol), what commonly listens there.
var topTCPUnregistered = [...]topNote{
	{81, "alternate HTTP (web panels, proxies); unassigned"},
	{8180, "alternate HTTP (Apache Tomcat packages)"},
	{8089, "Splunk management (splunkd) HTTPS"},
	{8085, "alternate HTTP (web consoles, Jenkins, proxies)"},
	{9043, "IBM WebSphere administrative console HTTPS"},
	{8123, "Home Assistant web UI; ClickHouse HTTP"},
	{49152, "first Windows dynamic RPC port (Vista and later); UPnP"},
	{49153, "Windows dynamic RPC"},
	{49154, "Windows dynamic RPC"},
	{49155, "Windows dynamic RPC"},
	{49156, "Windows dynamic RPC"},
	{49157, "Windows dynamic RPC"},
	{8530, "Windows Server Update Services HTTP"},
	{8531, "Windows Server Update Services HTTPS"},
	{5800, "VNC over HTTP (Java viewer), display 0"},
	{5901, "VNC display 1"},
	{5902, "VNC display 2"},
	{5938, "TeamViewer"},
	{943, "OpenVPN Access Server web UI"},
	{6129, "DameWare Mini Remote Control"},
	{6080, "noVNC web VNC client"},
	{8291, "MikroTik Winbox"},
	{8728, "MikroTik RouterOS API"},
	{8729, "MikroTik RouterOS API over TLS"},
	{50000, "IBM Db2; SAP; Jenkins agents"},
	{9042, "Apache Cassandra CQL"},
	{7199, "Apache Cassandra JMX"},
	{11210, "Couchbase data service"},
	{28015, "RethinkDB client driver"},
	{8529, "ArangoDB"},
	{26379, "Redis Sentinel"},
	{27018, "MongoDB shard server"},
	{27019, "MongoDB config server"},
	{15672, "RabbitMQ management HTTP"},
	{61616, "Apache ActiveMQ OpenWire"},
	{61613, "STOMP (ActiveMQ, RabbitMQ)"},
	{8222, "NATS monitoring HTTP"},
	{6650, "Apache Pulsar binary protocol"},
	{6660, "IRC (the traditional 6660-6669 block)"},
	{6661, "IRC"},
	{6662, "IRC"},
	{6663, "IRC"},
	{6664, "IRC"},
	{12201, "Graylog GELF input"},
	{24224, "Fluentd forward input"},
	{4318, "OpenTelemetry OTLP over HTTP"},
	{16686, "Jaeger query UI"},
	{9411, "Zipkin collector and UI"},
	{8125, "StatsD"},
	{8649, "Ganglia gmond"},
	{7946, "Docker Swarm and Serf/Consul gossip"},
	{10250, "Kubernetes kubelet API"},
	{10255, "Kubernetes kubelet read-only API (deprecated, still deployed)"},
	{10257, "Kubernetes kube-controller-manager"},
	{10259, "Kubernetes kube-scheduler"},
	{4505, "SaltStack publisher"},
	{4506, "SaltStack request server"},
	{7077, "Apache Spark standalone master"},
	{50070, "Hadoop HDFS NameNode web UI (2.x)"},
	{9870, "Hadoop HDFS NameNode web UI (3.x)"},
	{16010, "Apache HBase master web UI"},
	{8384, "Syncthing web UI"},
	{9229, "Node.js inspector (debugger)"},
	{8069, "Odoo"},
	{8983, "Apache Solr"},
	{5038, "Asterisk Manager Interface"},
	{8096, "Jellyfin and Emby media servers"},
	{64738, "Mumble voice chat"},
	{6881, "BitTorrent"},
	{51413, "Transmission BitTorrent peer port"},
	{4911, "Tridium Niagara Fox over TLS"},
	{789, "Red Lion Crimson (ICS)"},
	{18245, "GE SRTP (ICS)"},
	{20547, "ProConOS (ICS)"},
	{37215, "Huawei home gateway UPnP/TR-064"},
	{37777, "Dahua DVR and IP cameras"},
	{8333, "Bitcoin peer-to-peer"},
	{8332, "Bitcoin Core JSON-RPC"},
	{30303, "Ethereum peer-to-peer"},
	{8545, "Ethereum JSON-RPC"},
	{9735, "Lightning Network peer-to-peer"},
	{5173, "Vite dev server"},
	{7860, "Gradio apps"},
	{8112, "Deluge web UI"},
	{25565, "Minecraft Java Edition"},
	{27015, "Valve Source dedicated servers"},
	{62078, "Apple iOS lockdown (iTunes Wi-Fi sync)"},
	{24800, "Synergy keyboard and mouse sharing"},
}

// topUDP is the project's ranked list of commonly deployed UDP service
// ports, chosen like topTCP.
var topUDP = [...]ports.Port{
	// Tier 1: name service, time, address assignment, management and discovery.
	53, 123, 161, 162, 67, 68, 137, 138, 69, 500, 4500, 514,
	1900, 5353, 5355, 443, 111, 2049, 88, 464, 389, 1812, 1813, 1645,
	1646, 520, 546, 547, 3478, 5060, 1194, 51820, 1701, 623, 11211, 1434,
	3702, 427,
	// Tier 2: infrastructure and services.
	7, 9, 13, 17, 19, 37, 49, 177, 518, 517, 631, 1985,
	3799, 2535, 521, 4789, 6081, 8472, 4739, 2055, 6343, 9995, 5004, 5005,
	3544, 5351, 5350, 8125, 6514, 853, 5683, 5684, 47808, 2222, 44818, 20000,
	34962, 34963, 34964, 502, 1604, 3283, 3389, 3391, 10001, 5678, 1719, 2427,
	2727, 4569, 5061, 17185, 10080, 3074, 27015, 25565, 9987, 6881, 4672, 64738,
	33434, 554,
}

// topUDPUnregistered gives, for each port of topUDP that IANA assigns no
// service (for that protocol), what commonly listens there.
var topUDPUnregistered = [...]topNote{
	{51820, "WireGuard"},
	{8125, "StatsD"},
	{27015, "Valve Source dedicated servers"},
	{25565, "Minecraft Java Edition query"},
	{6881, "BitTorrent DHT"},
	{64738, "Mumble voice chat"},
}
