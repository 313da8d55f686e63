^XA
^FX labels/shipment/v1: 100 mm x 150 mm at 203 dpi (800 x 1200 dots). Never edit once used.^FS
^CI28
^PW800
^LL1200
^LH0,0
^FO32,32^A0N,34,30^FDCELL THERAPY SHIPMENT^FS
^FO32,72^GB{{ 500 if label.reprint else 736 }},4,4^FS
{% if label.reprint %}
^FO552,24^GB216,56,56^FS
^FO552,36^FR^A0N,38,34^FB216,1,0,C^FH^FDREPRINT {{ label.reprint }}^FS
{% endif %}
^FO32,100^A0N,22,20^FDSHIPMENT^FS
^FO32,126^A0N,64,56^FB736,1,0,L^FH^FD{{ label.shipment_code }}^FS
^FO32,216^A0N,22,20^FDDELIVER TO^FS
^FO32,242^A0N,44,38^FB736,2,6,L^FH^FD{{ label.site_name }}^FS
^FO32,346^A0N,34,30^FH^FDSite {{ label.site_code }}^FS
^FO32,430^GB736,120,120^FS
^FO48,452^FR^A0N,40,36^FB704,2,6,L^FH^FD{{ label.storage }}^FS
^FO32,580^A0N,44,40^FH^FDContains {{ label.dose_count }}^FS
^BY{{ label.code128.module_dots }}
^FO44,660^BCN,120,N,N,N^FH^FD{{ label.code128.data }}^FS
^FO44,792^A0N,24,22^FB712,1,0,L^FH^FD{{ label.payload }}^FS
^FO40,840^BQN,2,{{ label.qr.module_dots }}^FH^FD{{ label.qr.data }}^FS
^FO32,1140^GB736,2,2^FS
^FO32,1152^A0N,20,18^FB736,1,0,R^FH^FDLabel template {{ kind }}/{{ version }}^FS
^PQ1
^XZ
